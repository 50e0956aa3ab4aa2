"""Static data for the demo generator: names, providers, games, services, endpoints, errors.

Everything here is invented (provider and game names included, apart from the well-known game
studio names) and safe to ship. Pure data: no imports from the rest of the application.
"""

FIRST_NAMES = (
    "Anna",
    "Lukas",
    "Maria",
    "Jonas",
    "Elena",
    "Mikael",
    "Sofia",
    "Oliver",
    "Emma",
    "Mateo",
    "Lucía",
    "Noah",
    "Freja",
    "Aleksander",
    "Chloé",
    "Matteo",
    "Ingrid",
    "Tomás",
    "Aino",
    "Jakub",
    "Zoë",
    "Søren",
    "Łukasz",
    "José",
    "Björn",
    "Niamh",
    "Siobhán",
    "Ümit",
    "Giulia",
    "Pedro",
    "Hannah",
    "Emil",
    "Olga",
    "Camille",
    "Rui",
    "Wei",
    "Yuki",
    "Ahmed",
    "Fatima",
    "Liam",
)
LAST_NAMES = (
    "Müller",
    "Andersson",
    "García",
    "Rossi",
    "Nowak",
    "Virtanen",
    "Dubois",
    "O'Brien",
    "Silva",
    "Jensen",
    "Borg",
    "Camilleri",
    "Ångström",
    "Kowalski",
    "Novák",
    "Smith",
    "Hansen",
    "Papadopoulos",
    "Fernández",
    "Nieminen",
    "Schmidt",
    "Lindqvist",
    "Murphy",
    "Costa",
    "Nguyễn",
    "Öztürk",
    "van der Berg",
    "Ó Súilleabháin",
    "Zammit",
    "Larsen",
)
# Hostile-but-legit display names: markup, unicode, quotes. Given to a few fixed players.
SPECIAL_NAMES = (
    "<script>alert(1)</script>",
    "Zoë Ångström",
    "李雷",
    "韩梅梅",
    "Ольга Иванова",
    'Robert "Bobby" O\'Neil',
    "Ørjan Ødegård",
    "محمد علي",
    'Renée "the Shark" Dupré',
)
MAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "post.example")

# country, currency, phone prefix, weight
COUNTRIES = (
    ("MT", "EUR", "+356", 6),
    ("DE", "EUR", "+49", 14),
    ("SE", "SEK", "+46", 10),
    ("FI", "EUR", "+358", 8),
    ("GB", "GBP", "+44", 14),
    ("IE", "EUR", "+353", 6),
    ("NO", "NOK", "+47", 6),
    ("CA", "CAD", "+1", 8),
    ("BR", "BRL", "+55", 8),
    ("NZ", "NZD", "+64", 4),
    ("AT", "EUR", "+43", 6),
    ("NL", "EUR", "+31", 10),
)
# Documentation address ranges (RFC 5737); .200-.254 of the last one is kept for attackers.
IP_PREFIXES = ("192.0.2.", "198.51.100.", "203.0.113.")

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",  # noqa: E501
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "CasinoApp/5.12.0 (iOS 18.1; iPhone15,2)",
    "CasinoApp/5.12.0 (Android 14; SM-S918B)",
)
ATTACKER_UA = "python-requests/2.31.0"

# Game studios: name -> (short prefix for round ids, live?, games as (id, name)).
GAME_PROVIDERS = (
    (
        "Pragmatic Play",
        "pp",
        False,
        (("vs20templezeus", "Temple of Zeus"), ("vs20sugarstorm", "Sugar Storm"), ("vs10bigbass", "Big Catch Bonanza")),
    ),
    (
        "Evolution",
        "evo",
        True,
        (
            ("lightning-wheel", "Lightning Wheel"),
            ("crazy-coins", "Crazy Coins Live"),
            ("blackjack-classic-7", "Blackjack Classic 7"),
        ),
    ),
    ("NetEnt", "ne", False, (("stardust", "Stardust"), ("gonzales-gold", "Gonzales' Gold"))),
    ("Play'n GO", "png", False, (("book-of-ra-ka", "Book of Ra-Ka"), ("reactor-rush", "Reactor Rush"))),
    ("Hacksaw", "hs", False, (("dead-or-wilder", "Dead or Wilder"), ("chaos-squad", "Chaos Squad"))),
)
SPORTS_PROVIDER = "OddsForge"
SPORTS_EVENTS = (
    ("evt-88412", "Northbridge FC v Harbor City"),
    ("evt-88437", "Real Montaña v Atlético Sur"),
    ("evt-90211", "Lakers Valley v Bay Hawks"),
    ("evt-90388", "Nordic Open: Berg v Lindahl"),
    ("evt-91022", "Eastport Rovers v Kingsmead United"),
)
SPORTS_MARKETS = ("1X2", "Over 2.5 goals", "Both teams to score", "Handicap -1.5", "Moneyline")

# Payment providers: name, methods, reference prefix, card BIN (or None).
PAYMENT_PROVIDERS = (
    ("CardHub", "card", "chb_", "411111"),
    ("PayFast", "card", "pf_", "555555"),
    ("BankLink", "bank_transfer", "BL-", None),
    ("WalletWay", "e_wallet", "ww_", None),
    ("CryptoPay", "crypto", "cp-", None),
)
KYC_PROVIDER = "IdentiCheck"
SMS_PROVIDER = "TextBridge"
EMAIL_PROVIDER = "MailRelay"

DEPOSIT_AMOUNTS = (10, 20, 20, 25, 50, 50, 50, 100, 100, 200, 250, 500, 1000)
DEPOSIT_LIMITS = (100, 250, 500, 1000, 2000, 5000)
BETS = (0.1, 0.2, 0.2, 0.4, 0.5, 1.0, 1.0, 2.0, 5.0, 10.0, 25.0)
DECLINE_REASONS = ("insufficient_funds", "do_not_honor", "3ds_failed", "card_expired", "risk_rejected")

# Services: name -> (version, number of replicas).
SERVICES = {
    "api-gateway": ("2.31.4", 4),
    "auth-service": ("1.18.0", 3),
    "player-service": ("4.2.1", 2),
    "wallet-service": ("3.8.0", 3),
    "payment-service": ("2.9.3", 2),
    "game-service": ("5.4.2", 4),
    "sportsbook-service": ("1.27.0", 2),
    "bonus-service": ("0.44.1", 2),
    "kyc-service": ("1.3.7", 1),
    "notification-service": ("1.9.0", 2),
    "backoffice": ("3.1.0", 2),
    "risk-service": ("0.12.5", 2),
    "scheduler": ("1.5.2", 1),
}

# Anonymous/background API traffic: method, path, weight, typical status, service behind it.
BACKGROUND_API = (
    ("GET", "/api/v1/lobby", 20),
    ("GET", "/api/v1/games", 14),
    ("GET", "/api/v1/promotions", 6),
    ("GET", "/api/v1/sportsbook/events", 12),
    ("GET", "/api/v1/sportsbook/odds", 18),
    ("GET", "/api/v1/jackpots", 5),
    ("GET", "/api/v1/config/app", 4),
    ("GET", "/healthz", 8),
    ("POST", "/api/v1/auth/register", 1),
    ("GET", "/api/v1/countries", 1),
)
PLAYER_GETS = (
    "/api/v1/players/me",
    "/api/v1/players/me/balance",
    "/api/v1/players/me/bonuses",
    "/api/v1/players/me/transactions",
    "/api/v1/games",
    "/api/v1/lobby",
    "/api/v1/jackpots",
    "/api/v1/sportsbook/odds",
    "/api/v1/players/me/limits",
)

EMPLOYEE_ROLES = (
    ("support",),
    ("support",),
    ("support", "vip_manager"),
    ("payments",),
    ("payments",),
    ("risk", "security"),
    ("compliance",),
    ("admin",),
)

JOBS = (  # name, service, typical seconds, level of the start event, relative frequency
    ("odds-cache-refresh", "sportsbook-service", 2, "debug", 20),
    ("session-cleanup", "auth-service", 4, "debug", 10),
    ("bonus-expiry", "bonus-service", 30, "info", 4),
    ("jackpot-sync", "game-service", 3, "debug", 8),
    ("payment-reconciliation", "payment-service", 240, "info", 2),
    ("rg-limit-reset", "player-service", 60, "info", 2),
    ("affiliate-export", "scheduler", 120, "info", 1),
    ("aml-screening", "risk-service", 300, "info", 1),
)

# Background errors: service, error.type, message, code, stack trace.
_PY = 'Traceback (most recent call last):\n  File "/srv/{svc}/app/{mod}.py", line {line}, in {fn}\n    {src}\n{typ}: {msg}'
_JAVA = "{typ}: {msg}\n\tat com.example.{pkg}.{cls}.{fn}({cls}.java:{line})\n\tat com.example.{pkg}.Dispatcher.handle(Dispatcher.java:88)\n\tat java.base/java.lang.Thread.run(Thread.java:1583)"  # noqa: E501
ERRORS = (
    (
        "wallet-service",
        "sqlalchemy.exc.OperationalError",
        "deadlock detected while updating wallets",
        "DB_DEADLOCK",
        _PY.format(
            svc="wallet",
            mod="ledger",
            line=212,
            fn="apply_entry",
            src="session.flush()",
            typ="sqlalchemy.exc.OperationalError",
            msg="deadlock detected",
        ),
    ),
    (
        "bonus-service",
        "KeyError",
        "'wagering_multiplier'",
        "BONUS_RULE",
        _PY.format(
            svc="bonus",
            mod="rules",
            line=87,
            fn="evaluate",
            src="mult = rule['wagering_multiplier']",
            typ="KeyError",
            msg="'wagering_multiplier'",
        ),
    ),
    (
        "game-service",
        "ProviderSignatureError",
        "invalid HMAC signature on wallet callback",
        "SIG_INVALID",
        _JAVA.format(
            typ="com.example.games.ProviderSignatureError",
            msg="invalid HMAC signature on wallet callback",
            pkg="games.callbacks",
            cls="WalletCallbackVerifier",
            fn="verify",
            line=141,
        ),
    ),
    (
        "notification-service",
        "smtplib.SMTPServerDisconnected",
        "Connection unexpectedly closed",
        "SMTP_421",
        _PY.format(
            svc="notification",
            mod="mailer",
            line=58,
            fn="send",
            src="smtp.send_message(msg)",
            typ="smtplib.SMTPServerDisconnected",
            msg="Connection unexpectedly closed",
        ),
    ),
    (
        "risk-service",
        "redis.exceptions.TimeoutError",
        "Timeout reading from redis-risk:6379",
        "CACHE_TIMEOUT",
        _PY.format(
            svc="risk",
            mod="velocity",
            line=33,
            fn="count_recent",
            src="return r.zcount(key, lo, hi)",
            typ="redis.exceptions.TimeoutError",
            msg="Timeout reading from socket",
        ),
    ),
    (
        "player-service",
        "ValueError",
        'invalid date of birth "31.02.1990"',
        "VALIDATION",
        _PY.format(
            svc="player",
            mod="profile",
            line=140,
            fn="parse_dob",
            src="datetime.strptime(raw, '%d.%m.%Y')",
            typ="ValueError",
            msg="day is out of range for month",
        ),
    ),
    (
        "sportsbook-service",
        "MarketSuspendedException",
        'market "Over 2.5 goals" suspended while placing bet',
        "MARKET_SUSPENDED",
        _JAVA.format(
            typ="com.example.sportsbook.MarketSuspendedException",
            msg='market "Over 2.5 goals" suspended',
            pkg="sportsbook.betting",
            cls="BetPlacementService",
            fn="place",
            line=318,
        ),
    ),
)

# The error spike after a bad deploy: (service, error.type, message, stack trace).
SPIKE_ERROR = (
    "wallet-service",
    "sqlalchemy.exc.ProgrammingError",
    "column wallets.bonus_locked does not exist",
    _PY.format(
        svc="wallet",
        mod="repository",
        line=97,
        fn="get_wallet",
        src="row = session.execute(stmt).one()",
        typ="sqlalchemy.exc.ProgrammingError",
        msg="(psycopg.errors.UndefinedColumn) column wallets.bonus_locked does not exist",
    ),
)
TIMEOUT_TRACE = _PY.format(
    svc="{svc}",
    mod="providers/client",
    line=164,
    fn="call",
    src="resp = self._session.post(url, json=body, timeout=30)",
    typ="httpx.ReadTimeout",
    msg="timed out after 30.0 s waiting for {provider}",
)
