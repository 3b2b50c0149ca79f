"""Where state lives: the metadata store (base.py `Store`; SQLite by default), the async queue's storage
(queue.py `QueueStorage`; SQLite by default), their schema migrations, and the content-addressed blob store."""
