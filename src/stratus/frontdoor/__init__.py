"""The HTTP front door: Function URLs and API Gateway routes — HTTP in, one invoke out."""
