"""Resource providers: what creating, updating and deleting one CloudFormation resource type means.

`base.py` is the interface; each service family's module registers its types with `@provider(...)`.
"""
