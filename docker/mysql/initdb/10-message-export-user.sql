-- The application user for the `message_export` ledger (docker-compose.yaml creates the database).
-- mysql_native_password (enabled with --mysql-native-password=ON) works with every client library,
-- including mysqlclient built against MariaDB Connector/C in the Airflow image, without TLS or RSA
-- key exchange. Local development only: the password is the one in AIRFLOW_CONN_MYSQL_DEFAULT.
CREATE USER IF NOT EXISTS 'message_export'@'%' IDENTIFIED WITH mysql_native_password BY 'message_export';
GRANT ALL PRIVILEGES ON `message_export`.* TO 'message_export'@'%';
