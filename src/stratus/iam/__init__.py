"""IAM: roles, their policies, and the AWS managed policies functions attach."""
