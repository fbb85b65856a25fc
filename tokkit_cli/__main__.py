from tokkit_cli.app import main

main()
