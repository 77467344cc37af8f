"""``lethe serve``: an ASGI service (FastAPI, served by uvicorn) over the job service."""
