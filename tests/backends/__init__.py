"""Backends on real HTTP or real programs: the litellm gateway, command models, the tools tier,
the local runtime, a LiteLLM proxy, and the scripted model server itself."""
