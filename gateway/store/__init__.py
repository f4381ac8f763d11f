"""The store: everything the gateway keeps."""
