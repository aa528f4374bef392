"""Infrastructure: CDK constructs (here) and the local stack that mirrors them on moto (infra/local)."""
