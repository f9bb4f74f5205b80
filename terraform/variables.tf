variable "name" {
  description = "Prefix of every resource name, e.g. erp-prod."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name is 3-32 lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC of the databases (the Kubernetes cluster's)."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id is a VPC id (vpc-...)."
  }
}

variable "subnet_ids" {
  description = "Private subnets of the databases, in at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for id in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", id))])
    error_message = "Give at least two subnet ids (subnet-...), in different availability zones."
  }
}

variable "client_security_group_ids" {
  description = "Security groups allowed to reach the databases on 5432 (the cluster's nodes or pods)."
  type        = list(string)

  validation {
    condition     = length(var.client_security_group_ids) >= 1 && alltrue([for id in var.client_security_group_ids : can(regex("^sg-[0-9a-f]+$", id))])
    error_message = "Give at least one security group id (sg-...)."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for databases, backups and secrets; null: AWS managed keys (and AES256 for the bucket)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn is a KMS key ARN (arn:aws:kms:...) or null."
  }
}

variable "control_db_instance_class" {
  description = "Instance class of the control database."
  type        = string
  default     = "db.t4g.medium"

  validation {
    condition     = startswith(var.control_db_instance_class, "db.")
    error_message = "An RDS instance class starts with db."
  }
}

variable "control_db_backup_retention_days" {
  description = "Days of point-in-time recovery for the control database."
  type        = number
  default     = 14

  validation {
    condition     = var.control_db_backup_retention_days >= 7 && var.control_db_backup_retention_days <= 35
    error_message = "control_db_backup_retention_days must be from 7 to 35 (RDS's maximum)."
  }
}

variable "tenant_server_count" {
  description = "How many tenant database servers."
  type        = number
  default     = 2

  validation {
    condition     = var.tenant_server_count >= 1 && var.tenant_server_count <= 50 && floor(var.tenant_server_count) == var.tenant_server_count
    error_message = "tenant_server_count must be a whole number from 1 to 50."
  }
}

variable "tenant_server_instance_class" {
  description = "Instance class of each tenant database server."
  type        = string
  default     = "db.r6g.large"

  validation {
    condition     = startswith(var.tenant_server_instance_class, "db.")
    error_message = "An RDS instance class starts with db."
  }
}

variable "tenant_server_connection_budget" {
  description = "Connections the tenant runtimes together may hold per server (database_servers.connection_budget); max_connections is this plus the headroom."
  type        = number
  default     = 200

  validation {
    condition     = var.tenant_server_connection_budget >= 10 && var.tenant_server_connection_budget <= 5000
    error_message = "tenant_server_connection_budget must be from 10 to 5000."
  }
}

variable "tenant_server_connection_headroom" {
  description = "Connections beyond the budget for the provisioner, operators and RDS's reserved slots."
  type        = number
  default     = 30

  validation {
    condition     = var.tenant_server_connection_headroom >= 10
    error_message = "tenant_server_connection_headroom must be at least 10."
  }
}

variable "tenant_server_max_wal_size_mb" {
  description = "max_wal_size (MB) of the tenant servers, raised for bulk provisioning."
  type        = number
  default     = 8192

  validation {
    condition     = var.tenant_server_max_wal_size_mb >= 1024 && var.tenant_server_max_wal_size_mb <= 65536
    error_message = "tenant_server_max_wal_size_mb must be from 1024 to 65536."
  }
}

variable "backup_prefix" {
  description = "Key prefix of tenant backups in the bucket."
  type        = string
  default     = "backups/"

  validation {
    condition     = can(regex("^[a-z0-9._-]+/$", var.backup_prefix))
    error_message = "backup_prefix is a lower-case path segment ending with /."
  }
}

variable "backup_retention_days" {
  description = "Days a backup object lives in the bucket: at least the platform's longest retention (provisioner.deleted_retention_days for final backups, 30 by default)."
  type        = number
  default     = 45

  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 3650
    error_message = "backup_retention_days must be from 7 to 3650."
  }
}

variable "generate_secret_keys" {
  description = "Generate APP_SECRETS__ENCRYPTION_KEY and APP_SECRETS__TOKEN_SIGNING_KEY in Secrets Manager (never in state); false: leave the entries empty to fill by hand (e.g. keys of an existing installation)."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Protect the databases from deletion."
  type        = bool
  default     = true
}

variable "oidc_provider_arn" {
  description = "The EKS cluster's IAM OIDC provider ARN, for per-service roles (IRSA); null: policies only."
  type        = string
  default     = null

  validation {
    condition     = var.oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/", var.oidc_provider_arn))
    error_message = "oidc_provider_arn is an IAM OIDC provider ARN or null."
  }
}

variable "oidc_provider_url" {
  description = "The cluster's OIDC issuer URL (needed with oidc_provider_arn)."
  type        = string
  default     = null

  validation {
    condition     = var.oidc_provider_url == null || startswith(coalesce(var.oidc_provider_url, "-"), "https://")
    error_message = "oidc_provider_url starts with https://."
  }
}

variable "namespace" {
  description = "Kubernetes namespace of the Helm release (for the IRSA trust policies)."
  type        = string
  default     = "erp"
}

variable "release_name" {
  description = "Helm release name: the chart names its ServiceAccounts <release>-erp-platform-<service> (or <release>-<service> when the release name contains erp-platform)."
  type        = string
  default     = "erp-platform"
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
