"""The prediction log's format: one contract between the services that write it (the online
service, batch scoring) and the tasks that read it (monitoring)."""
