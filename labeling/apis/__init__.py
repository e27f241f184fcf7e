"""REST API views: thin, one class per URL; they call selectors to read and services to write."""
