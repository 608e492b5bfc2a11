"""The Milvus store (`milvus://`): imported only when a Milvus location is named, so pymilvus stays optional."""
