"""Secure USB export: the exporter, the export desk of the service, CMS, the
receiving office's decrypt, hashing beside the writes."""
