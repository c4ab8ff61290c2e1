// A process that makes exactly the system calls named on its command line (x86_64 numbers, called
// without arguments), then exit_group(0). No libc and no dynamic loader: after its execve, the
// kernel sees these calls and nothing else.

static long syscall0(long nr)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
	return ret;
}

static long parse(const char *s)
{
	long n = 0;

	while (*s >= '0' && *s <= '9')
		n = n * 10 + (*s++ - '0');
	return n;
}

__attribute__((used)) static void run(long *stack)
{
	long argc = stack[0];
	char **argv = (char **)(stack + 1);

	for (long i = 1; i < argc; i++)
		syscall0(parse(argv[i]));
	__asm__ volatile("syscall" : : "a"(231L), "D"(0L) : "rcx", "r11", "memory");
	for (;;)
		;
}

__asm__(".globl _start\n"
	"_start:\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call run\n");
