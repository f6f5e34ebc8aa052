"""Mail, both ways: composing and sending our emails, and reading what comes back."""
