# N Postgres 15 servers that hold the tenants' databases (one database and one login role
# per tenant). Register each with the platform after apply (POST /api/v1/servers with its
# admin URL and capacity; then its connection_budget in the control database): the
# provisioner places tenants on them.
#
# max_connections is sized from the platform's per-server connection budget (what all tenant
# runtimes together may hold open, database_servers.connection_budget) plus headroom for the
# provisioner (clones, dumps, restores, migrations), operators and RDS's reserved slots.
# max_wal_size is raised so bulk provisioning (CREATE DATABASE ... TEMPLATE, restores, fleet
# migrations) does not force back-to-back checkpoints.

locals {
  max_connections = var.connection_budget + var.connection_headroom
}

resource "aws_db_parameter_group" "tenants" {
  name_prefix = "${var.name}-tenants-"
  family      = "postgres15"
  description = "ERP platform tenant database servers"

  parameter {
    name         = "max_connections"
    value        = tostring(local.max_connections)
    apply_method = "pending-reboot"
  }

  # RDS reads max_wal_size in MB.
  parameter {
    name  = "max_wal_size"
    value = tostring(var.max_wal_size_mb)
  }

  # Tenant connections are plain TCP today (tokio-postgres NoTls): TLS cannot be forced yet.
  parameter {
    name  = "rds.force_ssl"
    value = "0"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = tostring(var.log_min_duration_ms)
  }

  lifecycle {
    create_before_destroy = true
  }

  tags = var.tags
}

resource "aws_db_instance" "tenants" {
  count = var.server_count

  identifier     = format("%s-tenants-%02d", var.name, count.index + 1)
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class

  # No database of its own: the provisioner creates one per tenant (from a template).
  username                      = var.master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  allocated_storage     = var.allocated_storage_gb
  max_allocated_storage = var.max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  multi_az               = var.multi_az
  db_subnet_group_name   = var.db_subnet_group_name
  vpc_security_group_ids = var.security_group_ids
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.tenants.name

  backup_retention_period   = var.backup_retention_days
  backup_window             = var.backup_window
  maintenance_window        = var.maintenance_window
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = format("%s-tenants-%02d-final", var.name, count.index + 1)

  auto_minor_version_upgrade      = true
  allow_major_version_upgrade     = false
  performance_insights_enabled    = true
  performance_insights_kms_key_id = var.kms_key_arn
  enabled_cloudwatch_logs_exports = ["postgresql"]

  tags = merge(var.tags, { "erp-platform/connection-budget" = tostring(var.connection_budget) })
}
