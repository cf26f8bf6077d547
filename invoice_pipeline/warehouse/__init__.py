from invoice_pipeline.warehouse.connection import Warehouse, WarehouseBusyError

__all__ = ["Warehouse", "WarehouseBusyError"]
