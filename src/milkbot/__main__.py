from milkbot.cli.main import main

main()
