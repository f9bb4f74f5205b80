# The smallest complete use of the root module: two tenant servers in an existing VPC whose
# EKS cluster runs the Helm chart. Replace the ids with yours, then:
#   terraform init && terraform apply
# and follow terraform/README.md to feed the outputs to the chart.

provider "aws" {
  region = "eu-central-1"

  default_tags {
    tags = {
      environment = "staging"
    }
  }
}

module "erp_platform" {
  source = "../.."

  name                      = "erp-staging"
  vpc_id                    = "vpc-0123456789abcdef0"
  subnet_ids                = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  client_security_group_ids = ["sg-0123456789abcdef0"]

  tenant_server_count             = 2
  tenant_server_connection_budget = 200
  backup_retention_days           = 45

  oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
  oidc_provider_url = "https://oidc.eks.eu-central-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
  namespace         = "erp"
  release_name      = "erp-platform"
}

output "control_db" {
  description = "Where the control database is."
  value       = module.erp_platform.control_db
}

output "tenant_servers" {
  description = "Servers to register with the platform."
  value       = module.erp_platform.tenant_servers
}

output "iam_roles" {
  description = "Roles for the chart's ServiceAccounts."
  value       = module.erp_platform.iam.role_arns
}
