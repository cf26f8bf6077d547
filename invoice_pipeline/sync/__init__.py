"""Source-independent sync machinery: validated pages -> raw_documents -> invoices/items."""
