-- The database the benchmark's MariaDB serves: an application user with far too many rights (as the
-- attacked applications of the paper's scenario have) and a small shop schema for sqlmap to find.
-- (FLUSH PRIVILEGES loads the grant tables, which the installer's bootstrap server skips.)
CREATE DATABASE IF NOT EXISTS shop;
USE shop;
CREATE TABLE customers (
  id INT PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  email VARCHAR(128) NOT NULL,
  password_hash CHAR(64) NOT NULL,
  card VARCHAR(19) NOT NULL
) ENGINE=InnoDB;
CREATE TABLE orders (
  id INT PRIMARY KEY AUTO_INCREMENT,
  customer_id INT NOT NULL,
  item VARCHAR(64) NOT NULL,
  amount DECIMAL(10,2) NOT NULL,
  KEY (customer_id)
) ENGINE=InnoDB;
INSERT INTO customers
  SELECT seq, CONCAT('customer ', seq), CONCAT('c', seq, '@example.com'), SHA2(CONCAT('pw', seq), 256),
         CONCAT('4000-0000-0000-', LPAD(seq, 4, '0'))
  FROM seq_1_to_500;
INSERT INTO orders (customer_id, item, amount)
  SELECT 1 + seq MOD 500, CONCAT('item ', seq MOD 37), (seq MOD 1000) / 10 FROM seq_1_to_5000;
FLUSH PRIVILEGES;
CREATE USER 'app'@'%' IDENTIFIED BY 'app-secret';
GRANT ALL PRIVILEGES ON *.* TO 'app'@'%';
