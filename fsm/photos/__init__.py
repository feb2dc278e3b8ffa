"""Photo evidence: presigned uploads, server-side checks and thumbnails."""
