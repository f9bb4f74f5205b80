output "control_plane_policy_arn" {
  description = "Policy of the control plane."
  value       = aws_iam_policy.control_plane.arn
}

output "provisioner_policy_arn" {
  description = "Policy of the provisioner."
  value       = aws_iam_policy.provisioner.arn
}

output "role_arns" {
  description = "IRSA role per service (empty without an OIDC provider); annotate each ServiceAccount with eks.amazonaws.com/role-arn."
  value       = { for key, role in aws_iam_role.service : key => role.arn }
}
