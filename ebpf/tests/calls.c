// A process that makes exactly the system calls named on its command line (x86_64 numbers, called
// without arguments), then exit_group(0). No libc and no dynamic loader: after its execve, the
// kernel sees these calls and nothing else.
//
// `thread N...` (up to `end`) makes the calls N... in a new thread, which then exits; the main
// thread waits for it (a futex on the thread's tid, cleared by the kernel at its exit) before it
// goes on.

#define SYS_futex 202
#define SYS_exit 60
#define SYS_exit_group 231
#define SYS_clone 56
#define CLONE_THREAD_FLAGS 0x3d0f00 // VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTID|CHILD_CLEARTID
#define FUTEX_WAIT 0

static long syscall0(long nr)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
	return ret;
}

static long syscall4(long nr, long a, long b, long c, long d)
{
	long ret;
	register long r10 __asm__("r10") = d;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}

static long parse(const char *s)
{
	long n = 0;

	while (*s >= '0' && *s <= '9')
		n = n * 10 + (*s++ - '0');
	return n;
}

static int is(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static char **thread_calls;
static volatile int thread_tid;
static char thread_stack[64 * 1024] __attribute__((aligned(16)));

__attribute__((used)) static void thread_main(void)
{
	for (char **a = thread_calls; *a && !is(*a, "end"); a++)
		syscall0(parse(*a));
	__asm__ volatile("syscall" : : "a"((long)SYS_exit), "D"(0L) : "rcx", "r11", "memory");
	for (;;)
		;
}

// clone(2) for a thread: the child starts on its own stack and never returns here.
static long spawn(void)
{
	long ret;
	register long r10 __asm__("r10") = (long)&thread_tid;
	register long r8 __asm__("r8") = 0;

	__asm__ volatile("syscall\n"
			 "test %%rax, %%rax\n"
			 "jnz 1f\n"
			 "call thread_main\n"
			 "1:\n"
			 : "=a"(ret)
			 : "a"((long)SYS_clone), "D"((long)CLONE_THREAD_FLAGS),
			   "S"(thread_stack + sizeof(thread_stack)), "d"(&thread_tid), "r"(r10),
			   "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
}

__attribute__((used)) static void run(long *stack)
{
	long argc = stack[0];
	char **argv = (char **)(stack + 1);

	for (long i = 1; i < argc; i++) {
		if (is(argv[i], "thread")) {
			thread_calls = argv + i + 1;
			if (spawn() > 0)
				while (thread_tid != 0)
					syscall4(SYS_futex, (long)&thread_tid, FUTEX_WAIT, thread_tid, 0);
			while (i < argc && !is(argv[i], "end"))
				i++;
			continue;
		}
		syscall0(parse(argv[i]));
	}
	__asm__ volatile("syscall" : : "a"((long)SYS_exit_group), "D"(0L) : "rcx", "r11", "memory");
	for (;;)
		;
}

__asm__(".globl _start\n"
	"_start:\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call run\n");
