"""The annotation server: a FastAPI app over a project, with a background retraining worker."""
