"""Adapters: the only modules that import boto3, botocore or pynamodb, and that catch their errors."""
