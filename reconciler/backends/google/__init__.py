"""Pieces every Google Cloud backend shares: credentials and clients, error
translation and retries, Cloud Storage, long-running operations.

Only modules under ``reconciler.backends`` that talk to Google import this
package, and it imports google-api-python-client lazily, so planning and the
local backend never load it.
"""
