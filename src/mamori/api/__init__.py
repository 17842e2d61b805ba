"""The operation catalogue (one declaration per action) and the error table."""
