"""Local stand-ins for paid third-party APIs, speaking their real wire formats."""
