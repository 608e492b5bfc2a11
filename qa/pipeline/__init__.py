"""The query pipeline: a question → hits (retrieve) → an answer with citations; evaluation of both."""
