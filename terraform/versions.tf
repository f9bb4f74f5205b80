# Write-only attributes (the generated keys never reach the state) need Terraform 1.11 and
# the AWS provider 5.90 or newer; 5.100 is the version tested offline (scripts/check-deploy).
terraform {
  required_version = ">= 1.11"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 6.0"
    }
  }
}
