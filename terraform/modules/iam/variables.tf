variable "name" {
  description = "Prefix of every policy and role name."
  type        = string
}

variable "backup_bucket_arn" {
  description = "ARN of the backup bucket."
  type        = string
}

variable "backup_prefix" {
  description = "Key prefix the provisioner may read and write (ends with /)."
  type        = string

  validation {
    condition     = endswith(var.backup_prefix, "/") && length(var.backup_prefix) > 1
    error_message = "backup_prefix must be a non-empty prefix ending with / (never the whole bucket)."
  }
}

variable "backup_kms_key_arn" {
  description = "KMS key of the bucket's SSE-KMS, or null for AES256."
  type        = string
  default     = null
}

variable "control_plane_secret_arns" {
  description = "Secrets the control plane may read."
  type        = list(string)

  validation {
    condition     = length(var.control_plane_secret_arns) > 0
    error_message = "Give the control plane at least one secret (or drop its policy)."
  }
}

variable "provisioner_secret_arns" {
  description = "Secrets the provisioner may read."
  type        = list(string)
  default     = []
}

variable "secrets_kms_key_arn" {
  description = "Customer-managed KMS key of the secrets, or null for aws/secretsmanager."
  type        = string
  default     = null
}

variable "oidc_provider_arn" {
  description = "The EKS cluster's IAM OIDC provider ARN; null: policies only, no roles."
  type        = string
  default     = null
}

variable "oidc_provider_url" {
  description = "The cluster's OIDC issuer URL (https://oidc.eks.<region>.amazonaws.com/id/...)."
  type        = string
  default     = null
}

variable "namespace" {
  description = "Kubernetes namespace of the release."
  type        = string
  default     = "erp"
}

variable "service_accounts" {
  description = "Kubernetes ServiceAccount per service that gets a role (control_plane, provisioner; the runtime gets none)."
  type        = map(string)
  default = {
    control_plane = "erp-platform-control-plane"
    provisioner   = "erp-platform-provisioner"
  }

  validation {
    condition     = alltrue([for key in keys(var.service_accounts) : contains(["control_plane", "provisioner"], key)])
    error_message = "service_accounts keys are control_plane and provisioner (the tenant runtime needs no AWS access)."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
