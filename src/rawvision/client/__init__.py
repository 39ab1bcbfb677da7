"""Clients that run on the user's machine; each module is one self-contained file that can be copied alone.

``classify_client`` is the thin client (top-k labels), ``folder_client`` classifies folders to JSONL/CSV, and
``ocr_client`` reads text. They import only numpy and tritonclient, never the rest of rawvision.
"""

from rawvision.client.classify_client import Client, ClientError, Prediction, format_answers, main

__all__ = ["Client", "ClientError", "Prediction", "format_answers", "main"]
