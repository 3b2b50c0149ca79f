"""Authentication (AWS Signature Version 4) and the one place where authorization will plug in.

`sigv4.Verifier` checks a request's signature in two steps: `begin` (the head: key, date, scope)
and `finish` (the payload hash, once the body is complete), yielding a `Principal`. `gate.AuthGate`
puts that in front of every route on the port; the Invoke front doors call it directly.
`principal.Authorizer` is the seam for IAM (issue 11 scope 4): today every principal is the admin.
"""
