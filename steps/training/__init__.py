"""ZenML steps of this stage (thin wrappers around ``facetransfer``)."""
