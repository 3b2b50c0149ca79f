"""SAM / CloudFormation templates deployed as stacks: server state, applied through Stratus's own APIs.

The path of a deploy (one read long, like the invoke path):

    client (`stratus deploy`, any HTTP client)       builds CodeUri folders into zips (cli/build.py),
      │  PUT /_stratus/artifacts/{sha256}             uploads each once (content-addressed),
      │  PUT /_stratus/stacks/{name}                  then sends the template whose CodeUris name them
      ▼
    api/stacks.py        HTTP in/out (docs/stacks-api.md is the contract), SigV4 like every route
      ▼
    deploy/template.py   YAML (CloudFormation short tags: !Ref, !GetAtt, !Sub ...) or JSON → a dict
    deploy/translate.py  SAM → CloudFormation with aws-sam-translator (AWS's own), Parameters checked
    deploy/intrinsics.py Ref, GetAtt, Sub, Join, Select, Split, If + Conditions, FindInMap, pseudo-parameters
    deploy/engine.py     plan (create / update / replace / delete / no change per resource, in dependency
                         order), apply through providers, roll back on failure, record events
    deploy/stacks.py     the stack (template, parameters, resources with physical ids and attributes,
                         outputs, status, events) as store documents: survives restarts, seen by every client
      ▼
    deploy/providers/    one module per service family; each resource type's create / update / delete
                         made of AWS API calls (boto3) — Stratus's own API over loopback for lambda, iam,
                         events, apigateway, apigatewayv2, logs; STRATUS_SERVICE_ENDPOINTS for sqs, sns,
                         dynamodb, s3. Same validation and errors as any client gets.

The deploy runs in a worker thread (boto3 blocks); the event loop only awaits it.
"""
