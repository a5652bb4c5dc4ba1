"""The fault matrix: one `routerls serve` that every fault in this folder meets in turn."""
