from replay.present.cli import main

main()
