"""IAM on the Lambda port: roles with trust, inline and attached managed policies (service.py), served over
AWS's query protocol together with STS GetCallerIdentity (api.py)."""
