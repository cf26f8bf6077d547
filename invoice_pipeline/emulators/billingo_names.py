"""Static vocabularies for the Billingo emulator's generated data: Hungarian places, company and
institution names, products and the weighted enums. Kept apart so that the generator stays
readable; nothing here is random by itself."""

from __future__ import annotations

from decimal import Decimal

# (city, lowest post code, highest post code); Budapest weighted by repetition.
CITIES: list[tuple[str, int, int]] = [
    ("Budapest", 1011, 1239),
    ("Budapest", 1011, 1239),
    ("Budapest", 1011, 1239),
    ("Budapest", 1011, 1239),
    ("Győr", 9021, 9030),
    ("Szeged", 6720, 6729),
    ("Debrecen", 4024, 4034),
    ("Pécs", 7621, 7636),
    ("Miskolc", 3525, 3535),
    ("Nyíregyháza", 4400, 4405),
    ("Kecskemét", 6000, 6008),
    ("Székesfehérvár", 8000, 8020),
    ("Szombathely", 9700, 9701),
    ("Szolnok", 5000, 5008),
    ("Tatabánya", 2800, 2803),
    ("Kaposvár", 7400, 7401),
    ("Érd", 2030, 2030),
    ("Veszprém", 8200, 8200),
    ("Zalaegerszeg", 8900, 8900),
    ("Sopron", 9400, 9400),
    ("Eger", 3300, 3300),
    ("Békéscsaba", 5600, 5600),
    ("Hódmezővásárhely", 6800, 6800),
    ("Szekszárd", 7100, 7100),
    ("Gödöllő", 2100, 2100),
    ("Vác", 2600, 2600),
    ("Siófok", 8600, 8600),
    ("Dunaújváros", 2400, 2400),
]

STREETS: list[str] = [
    "Fő utca",
    "Kossuth Lajos utca",
    "Petőfi Sándor utca",
    "Rákóczi út",
    "Ady Endre út",
    "Széchenyi tér",
    "Dózsa György út",
    "Bajcsy-Zsilinszky út",
    "Váci út",
    "Szent István körút",
    "Hunyadi János utca",
    "Jókai Mór utca",
    "Arany János utca",
    "Deák Ferenc tér",
    "Andrássy út",
    "Üllői út",
    "Tisza Lajos körút",
    "Nagyerdei körút",
    "Szabadság tér",
    "Gyár utca",
    "Ipari park",
    "Külső Szegedi út",
    "Őrház utca",
    "Bem József utca",
]

NAME_FIRST: list[str] = [
    "Alföldi", "Dunántúli", "Pannon", "Tisza", "Mátra", "Bükki", "Balaton", "Kárpát",
    "Hungária", "Napfény", "Zöld", "Arany", "Ezüst", "Kovács", "Szabó", "Tóth", "Nagy",
    "Horváth", "Kiss", "Varga", "Molnár", "Németh", "Farkas", "Bíró", "Fehér", "Győri",
    "Szegedi", "Debreceni", "Pécsi", "Óbudai", "Újpesti", "Délibáb", "Fenyő", "Tölgy",
    "Szivárvány", "Őrségi", "Hegyvidéki", "Sárközi", "Észak-Pesti", "Körös",
]  # fmt: skip

NAME_SECOND: list[str] = [
    "Építő", "Kereskedelmi", "Informatikai", "Szolgáltató", "Orvostechnikai",
    "Egészségügyi", "Logisztikai", "Mezőgazdasági", "Élelmiszeripari", "Gépészeti",
    "Tanácsadó", "Ingatlanforgalmazó", "Vendéglátó", "Szállítmányozó",
    "Gyógyszer-nagykereskedelmi", "Műszaki", "Könyvelő", "Nyomdaipari", "Faipari",
    "Fémipari", "Energetikai", "Környezetvédelmi", "Oktatási", "Biztonságtechnikai",
]  # fmt: skip

NAME_THIRD: list[str] = ["", "", "", "", "és Társa", "Plusz", "Trade", "Invest", "Group", "Hungary"]

# (legal form suffix, weight)
LEGAL_FORMS: list[tuple[str, int]] = [
    ("Kft.", 62),
    ("Bt.", 16),
    ("Zrt.", 10),
    ("Kkt.", 2),
    ("Nyrt.", 1),
]

GIVEN_NAMES: list[str] = [
    "Péter", "László", "Zoltán", "Gábor", "Ádám", "Bence", "Réka", "Eszter", "Katalin",
    "Júlia", "Tünde", "Erzsébet", "Győző", "Ödön", "Levente", "Dóra", "Zsófia", "Márton",
]  # fmt: skip

INSTITUTIONS: list[str] = [
    "Szegedi Tudományegyetem",
    "Semmelweis Egyetem",
    "Debreceni Egyetem Klinikai Központ",
    "Pécsi Tudományegyetem Klinikai Központ",
    "GYŐR-MOSON-SOPRON VÁRMEGYEI PETZ ALADÁR EGYETEMI OKTATÓ KÓRHÁZ",
    "Bács-Kiskun Vármegyei Oktatókórház",
    "Országos Onkológiai Intézet",
    "Dél-pesti Centrumkórház – Országos Hematológiai és Infektológiai Intézet",  # noqa: RUF001
    "Észak-budapesti Szent János Centrumkórház",
    "Borsod-Abaúj-Zemplén Vármegyei Központi Kórház és Egyetemi Oktatókórház",
    "Óbudai Egyetem",
    "Budapesti Műszaki és Gazdaságtudományi Egyetem",
    "Eötvös Loránd Tudományegyetem",
    "Magyar Agrár- és Élettudományi Egyetem",
    "Uzsoki Utcai Kórház",
    "Szombathelyi Markusovszky Egyetemi Oktatókórház",
    "Hódmezővásárhelyi Erzsébet Kórház",
    "Fővárosi Önkormányzat Péterfy Kórház",
]

# (name, unit, lowest HUF net unit price, highest)
PRODUCTS: list[tuple[str, str, int, int]] = [
    ("Szoftverfejlesztés", "óra", 12000, 35000),
    ("Informatikai tanácsadás", "óra", 15000, 45000),
    ("Rendszerüzemeltetési átalánydíj", "hó", 80000, 600000),
    ("Irodabérleti díj", "hó", 50000, 900000),
    ("Karbantartási díj", "hó", 20000, 250000),
    ("Szoftver licencdíj", "db", 10000, 1500000),
    ("Orvosi vizsgálókesztyű (100 db/doboz)", "db", 1500, 4500),
    ("Sebészeti varrófonal, felszívódó", "db", 2000, 15000),
    ("MR004C SEQUENT MENISCAL REPAIR DEVICE, CURVED NEEDLE, 4 IMPLANTS", "db", 90000, 180000),
    ("Térdprotézis implantátum", "db", 300000, 1200000),
    ("Steril gézlap 10x10 cm", "db", 200, 900),
    ("Egyszer használatos fecskendő 5 ml", "db", 40, 120),
    ("Irodaszer csomag", "db", 3000, 25000),
    ("Nyomtatópatron, fekete", "db", 8000, 40000),
    ("Szállítási díj", "db", 1500, 15000),
    ("Kiszállási díj", "db", 5000, 20000),
    ("Virágföld", "kg", 150, 600),
    ("Szemes kávé, pörkölt", "kg", 4000, 12000),
    ("Alma (Jonagold)", "kg", 250, 700),
    ("Takarítási szolgáltatás", "óra", 4000, 9000),
    ("Könyvelési díj", "hó", 30000, 250000),
    ("Webtárhely éves díja", "db", 12000, 90000),
    ("Oktatás, tréning", "óra", 15000, 60000),
    ("Fordítás (angol–magyar)", "db", 3000, 30000),  # noqa: RUF001
    ("Gépjármű-javítás munkadíj", "óra", 9000, 22000),
    ("Fűtéskorszerűsítés anyagköltség", "db", 20000, 800000),
]

FREE_LINES: list[str] = [
    "Előleg a szerződés alapján",
    "Egyedi fejlesztés – megrendelés szerint",  # noqa: RUF001
    "Tanácsadói díj, {month}. havi",
    "Teljesítésigazolás alapján: szolgáltatási díj",
    "Utólagos árkülönbözet",
    "Csomagolás és kezelés",
    "Rendezvényszervezés",
    "Étkezési szolgáltatás",
]

COMMENTS: list[str] = [
    "Lejelentő: TRA/MEDK/{year}/{n}",
    "Köszönjük, hogy minket választott!",
    "Szerződés szerint.",
    "Teljesítésigazolás alapján.",
    "A számla összegét kérjük a megadott bankszámlára utalni.",
    "Megrendelés száma: PO-{year}-{n}",
]

ORG_INVOICE_PREFIXES: list[str] = ["INV", "E-ABC", "SZLA", "E-MEDK", "BP", "KSZ", "E-KFT", "ITC"]

# Weighted enums as (value, weight).
DOC_TYPES = [("invoice", 84), ("receipt", 5), ("proforma", 5), ("advance", 3), ("draft", 3)]
PAYMENT_METHODS = [
    ("wire_transfer", 70), ("cash", 12), ("bankcard", 12), ("online_bankcard", 2),
    ("cash_on_delivery", 1), ("barion", 1), ("szep_card", 1), ("paypal", 1),
]  # fmt: skip
VATS = [
    ("27%", 74),
    ("5%", 6),
    ("18%", 4),
    ("0%", 3),
    ("AAM", 5),
    ("5,5%", 1),
    ("TAM", 4),
    ("EU", 3),
]
VAT_RATES: dict[str, Decimal] = {
    "27%": Decimal("0.27"), "5%": Decimal("0.05"), "18%": Decimal("0.18"), "0%": Decimal(0),
    "AAM": Decimal(0), "5,5%": Decimal("0.055"), "TAM": Decimal(0), "EU": Decimal(0),
}  # fmt: skip
VAT_PERCENT: dict[str, int | float] = {
    "27%": 27, "5%": 5, "18%": 18, "0%": 0, "AAM": 0, "5,5%": 5.5, "TAM": 0, "EU": 0,
}  # fmt: skip
ENTITLEMENTS: dict[str, str] = {"AAM": "AAM", "TAM": "TAM", "EU": "EUE", "0%": "EAM"}
UNITS = [("db", 70), ("óra", 15), ("hó", 10), ("kg", 5)]
NOTIFICATION = [
    ("opened", 35), ("none", 20), ("downloaded", 20), ("readed", 10), ("closed", 10), ("failed", 5),
]  # fmt: skip
NAV_STATUS = [("done", 93), ("received", 2), ("processing", 1), ("technical_error", 1),
              ("validation_ok", 2), ("nav_warn", 1)]  # fmt: skip
LANGUAGES = [("hu", 92), ("en", 6), ("de", 2)]
