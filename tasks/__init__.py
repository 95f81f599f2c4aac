"""Built-in stream definitions: each module defines STREAM = clbench.streams.StreamSpec(...)."""
