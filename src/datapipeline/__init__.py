"""DataPipeline."""
