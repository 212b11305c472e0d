"""ZenML steps of batch scoring (thin wrappers around ``facetransfer``)."""
