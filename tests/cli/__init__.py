"""`routerls run|route|report|eval|orchestrate|trust` end to end, in process or as child processes."""
