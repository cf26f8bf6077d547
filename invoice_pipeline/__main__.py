from invoice_pipeline.cli import main

main()
