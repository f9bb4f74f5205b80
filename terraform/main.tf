# The cloud side of the ERP platform on AWS: the control database, the tenant database
# servers, the backup bucket, the platform's secrets and each service's IAM. The Kubernetes
# side is the Helm chart in helm/erp-platform; terraform/README.md joins the two.

locals {
  tags = merge(var.tags, { "app.kubernetes.io/part-of" = "erp-platform", "erp-platform/name" = var.name })
  # The Helm chart's full name, which prefixes its ServiceAccounts.
  chart_fullname = strcontains(var.release_name, "erp-platform") ? var.release_name : "${var.release_name}-erp-platform"
}

resource "aws_db_subnet_group" "databases" {
  name_prefix = "${var.name}-"
  description = "ERP platform databases"
  subnet_ids  = var.subnet_ids
  tags        = local.tags
}

resource "aws_security_group" "databases" {
  name_prefix = "${var.name}-databases-"
  description = "ERP platform databases: Postgres from the platform only"
  vpc_id      = var.vpc_id
  tags        = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "postgres" {
  for_each = toset(var.client_security_group_ids)

  security_group_id            = aws_security_group.databases.id
  description                  = "Postgres from the platform"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = each.value
  tags                         = local.tags
}

module "control_db" {
  source = "./modules/control_db"

  name                  = var.name
  instance_class        = var.control_db_instance_class
  kms_key_arn           = var.kms_key_arn
  db_subnet_group_name  = aws_db_subnet_group.databases.name
  security_group_ids    = [aws_security_group.databases.id]
  backup_retention_days = var.control_db_backup_retention_days
  deletion_protection   = var.deletion_protection
  tags                  = local.tags
}

module "tenant_servers" {
  source = "./modules/tenant_servers"

  name                 = var.name
  server_count         = var.tenant_server_count
  instance_class       = var.tenant_server_instance_class
  connection_budget    = var.tenant_server_connection_budget
  connection_headroom  = var.tenant_server_connection_headroom
  max_wal_size_mb      = var.tenant_server_max_wal_size_mb
  kms_key_arn          = var.kms_key_arn
  db_subnet_group_name = aws_db_subnet_group.databases.name
  security_group_ids   = [aws_security_group.databases.id]
  deletion_protection  = var.deletion_protection
  tags                 = local.tags
}

module "backup_bucket" {
  source = "./modules/backup_bucket"

  name           = var.name
  prefix         = var.backup_prefix
  retention_days = var.backup_retention_days
  kms_key_arn    = var.kms_key_arn
  tags           = local.tags
}

module "secrets" {
  source = "./modules/secrets"

  name          = var.name
  generate_keys = var.generate_secret_keys
  kms_key_arn   = var.kms_key_arn
  tags          = local.tags
}

module "iam" {
  source = "./modules/iam"

  name               = var.name
  backup_bucket_arn  = module.backup_bucket.bucket_arn
  backup_prefix      = module.backup_bucket.prefix
  backup_kms_key_arn = var.kms_key_arn
  # Both services connect to the control database and open sealed secrets.
  control_plane_secret_arns = concat(module.secrets.all_arns, [module.control_db.master_user_secret_arn])
  provisioner_secret_arns   = concat(module.secrets.all_arns, [module.control_db.master_user_secret_arn])
  secrets_kms_key_arn       = var.kms_key_arn
  oidc_provider_arn         = var.oidc_provider_arn
  oidc_provider_url         = var.oidc_provider_url
  namespace                 = var.namespace
  service_accounts = {
    control_plane = "${local.chart_fullname}-control-plane"
    provisioner   = "${local.chart_fullname}-provisioner"
  }
  tags = local.tags
}
