variable "name" {
  description = "Prefix of the bucket's generated name (e.g. erp-prod)."
  type        = string
}

variable "bucket_name" {
  description = "Exact bucket name; null: generated from name."
  type        = string
  default     = null
}

variable "prefix" {
  description = "Key prefix the platform writes backups under (ends with /)."
  type        = string
  default     = "backups/"

  validation {
    condition     = can(regex("^[a-z0-9._-]+/$", var.prefix))
    error_message = "prefix must be a lower-case path segment ending with / (e.g. backups/)."
  }
}

variable "retention_days" {
  description = "Days after which a backup object expires: at least the platform's longest retention (scheduled backups, and provisioner.deleted_retention_days for final backups)."
  type        = number
  default     = 45

  validation {
    condition     = var.retention_days >= 7
    error_message = "retention_days must be at least 7."
  }
}

variable "noncurrent_retention_days" {
  description = "Days a deleted or overwritten backup version is kept (undo window for a prune)."
  type        = number
  default     = 7

  validation {
    condition     = var.noncurrent_retention_days >= 1
    error_message = "noncurrent_retention_days must be at least 1."
  }
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS; null: SSE-S3 (AES256)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
