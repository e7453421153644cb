"""What the demo retailer sells: categories, product styles with their variants, and kits.

Plain data only; `catalog` turns it into SKUs. Prices are in cents so no float ever touches
money. Brands and company prefixes are invented; the prefixes sit in GS1 ranges only so the
GTINs look like the ones on real labels (US UPC `08…`, Japan `49…`, France `30…` to `37…`).
"""

from dataclasses import dataclass

from erp.models import Category, Product

APPAREL = Category.Department.APPAREL
ELECTRONICS = Category.Department.ELECTRONICS
HEALTH_BEAUTY = Category.Department.HEALTH_BEAUTY

# (code, name, department)
CATEGORIES = [
    ("tops", "Tops", APPAREL),
    ("knitwear", "Knitwear", APPAREL),
    ("bottoms", "Bottoms", APPAREL),
    ("outerwear", "Outerwear", APPAREL),
    ("accessories", "Accessories", APPAREL),
    ("cameras", "Cameras", ELECTRONICS),
    ("lenses", "Lenses", ELECTRONICS),
    ("camera-accessories", "Camera accessories", ELECTRONICS),
    ("camera-kits", "Camera kits", ELECTRONICS),
    ("audio", "Headphones & speakers", ELECTRONICS),
    ("wearables", "Wearables", ELECTRONICS),
    ("tablets", "Tablets & e-readers", ELECTRONICS),
    ("power", "Chargers & power", ELECTRONICS),
    ("drones", "Drones & action cameras", ELECTRONICS),
    ("skincare", "Skincare", HEALTH_BEAUTY),
    ("haircare", "Haircare", HEALTH_BEAUTY),
    ("supplements", "Vitamins & supplements", HEALTH_BEAUTY),
    ("oral-care", "Oral care", HEALTH_BEAUTY),
    ("fragrance", "Fragrance", HEALTH_BEAUTY),
    ("gift-sets", "Gift sets", HEALTH_BEAUTY),
]

# Share of list price a unit costs us, in percent, by department: apparel and beauty carry
# fat margins, electronics thin ones.
COST_PERCENT = {APPAREL: (30, 45), ELECTRONICS: (58, 76), HEALTH_BEAUTY: (18, 32)}

# How often a department's SKUs are ordered, relative to each other.
DEPARTMENT_DEMAND = {APPAREL: 1.0, ELECTRONICS: 0.9, HEALTH_BEAUTY: 1.4}

# GS1 company prefixes, by brand. Own-brand apparel carries a US UPC-A; the electronics and
# beauty brands are imported, with EAN-13s. Each prefix leaves room for the item references.
GTIN_PREFIX = {
    "harbor": "0845123",  # UPC-A (12 digits once the check digit is added)
    "alpine": "4961234",  # EAN-13
    "soundhaven": "4987650",
    "pulse": "4971120",
    "leaf": "4905524",
    "voltcore": "4948872",
    "skylark": "4962231",
    "lumiere": "3614270",
    "vitalis": "3760125",
}


@dataclass(frozen=True)
class Option:
    code: str
    label: str
    price_delta: int = 0  # cents added to the style's price
    demand: float = 1.0


@dataclass(frozen=True)
class Style:
    """A product line; every combination of its option axes is one SKU."""

    sku_stem: str
    name: str
    brand: str
    category: str
    price: int  # cents
    axes: tuple[tuple[Option, ...], ...] = ()
    demand: float = 1.0
    warranty_months: int = 0
    shelf_life_months: int = 0  # lot-tracked goods: how long after manufacture they expire

    @property
    def department(self) -> str:
        return next(dept for code, _, dept in CATEGORIES if code == self.category)

    @property
    def tracking(self) -> str:
        return {
            APPAREL: Product.Tracking.NONE,
            ELECTRONICS: Product.Tracking.SERIAL,
            HEALTH_BEAUTY: Product.Tracking.LOT,
        }[self.department]


@dataclass(frozen=True)
class Kit:
    """A bundle SKU sold as one line and received back as its components."""

    sku: str
    name: str
    category: str
    components: tuple[tuple[str, int], ...]  # (component SKU, quantity)
    discount_percent: int = 10
    gtin_brand: str = "harbor"


def sizes(*codes: str) -> tuple[Option, ...]:
    # Middle sizes sell most, as on any apparel size curve.
    curve = {"XS": 0.5, "S": 0.9, "M": 1.4, "L": 1.3, "XL": 0.8, "30": 0.7, "32": 1.3}
    curve |= {"34": 1.2, "36": 0.8}
    return tuple(Option(code, code, demand=curve.get(code, 1.0)) for code in codes)


# Retail colour codes, as printed in the SKU.
COLOUR_CODES = {
    "White": "WHT", "Black": "BLK", "Heather Grey": "HGY", "Navy": "NVY", "Charcoal": "CHR",
    "Oatmeal": "OAT", "Forest": "FOR", "Light Blue": "LBL", "Khaki": "KHK", "Olive": "OLV",
    "Indigo": "IND", "Washed Black": "WBK", "Rust": "RST", "Grey Marl": "GMR", "Yellow": "YLW",
    "Mustard": "MUS", "Cobalt": "COB", "Silver": "SLV", "Midnight Blue": "MBL", "Sage": "SGE",
    "Red": "RED", "Ocean Blue": "OBL", "Coral": "CRL", "Chalk": "CHK", "Rose Gold": "RGD",
    "Lilac": "LLC", "Space Grey": "SGY", "Brown": "BRN",
}  # fmt: skip


def colours(*names: str) -> tuple[Option, ...]:
    return tuple(Option(COLOUR_CODES[name], name) for name in names)


def variants(*specs: tuple[str, str, int]) -> tuple[Option, ...]:
    """Options that change the price: (code, label, price delta in cents)."""
    return tuple(Option(code, label, delta) for code, label, delta in specs)


LETTER_SIZES = sizes("S", "M", "L", "XL")
WAIST_SIZES = sizes("30", "32", "34", "36")

# The tables are kept one style per row or two, which the formatter would explode.
# fmt: off
STYLES = [
    # Apparel: own brand, tracked by quantity only.
    Style(
        "AP-TEE", "Essential Cotton Tee", "harbor", "tops", 2400,
        (colours("White", "Black", "Heather Grey", "Navy"), sizes("XS", "S", "M", "L", "XL")),
        demand=1.6,
    ),
    Style(
        "AP-MER", "Merino Crew Sweater", "harbor", "knitwear", 8900,
        (colours("Charcoal", "Oatmeal", "Forest"), LETTER_SIZES),
    ),
    Style(
        "AP-OXF", "Oxford Button-Down Shirt", "harbor", "tops", 5800,
        (colours("White", "Light Blue"), LETTER_SIZES),
    ),
    Style(
        "AP-CHI", "Slim Chino", "harbor", "bottoms", 6800,
        (colours("Khaki", "Navy", "Olive"), WAIST_SIZES),
    ),
    Style(
        "AP-DNM", "Relaxed Denim Jean", "harbor", "bottoms", 7900,
        (colours("Indigo", "Washed Black"), WAIST_SIZES),
    ),
    Style(
        "AP-DWN", "Packable Down Jacket", "harbor", "outerwear", 14900,
        (colours("Black", "Navy", "Rust"), LETTER_SIZES),
        demand=0.8,
    ),
    Style(
        "AP-HOO", "Fleece Zip Hoodie", "harbor", "tops", 6400,
        (colours("Grey Marl", "Black"), LETTER_SIZES),
    ),
    Style(
        "AP-SHL", "Rain Shell Jacket", "harbor", "outerwear", 11900,
        (colours("Yellow", "Black"), LETTER_SIZES),
        demand=0.7,
    ),
    Style(
        "AP-BNE", "Ribbed Wool Beanie", "harbor", "accessories", 2200,
        (colours("Charcoal", "Mustard", "Navy"),),
    ),
    Style(
        "AP-RUN", "Performance Running Short", "harbor", "bottoms", 3800,
        (colours("Black", "Cobalt"), LETTER_SIZES),
    ),
    Style(
        "AP-SOK", "Everyday Crew Socks 3-Pack", "harbor", "accessories", 1800,
        (colours("Black", "White"), (Option("SM", "S/M"), Option("LXL", "L/XL"))),
        demand=1.2,
    ),
    Style(
        "AP-BLT", "Full-Grain Leather Belt", "harbor", "accessories", 4800,
        (colours("Black", "Brown"), WAIST_SIZES),
        demand=0.6,
    ),
    # Consumer electronics: serial-tracked, with a manufacturer's warranty.
    Style(
        "EL-X100", "Alpine X100 Mirrorless Camera Body", "alpine", "cameras", 89900,
        demand=0.6, warranty_months=24,
    ),
    Style(
        "EL-X200", "Alpine X200 Mirrorless Camera Body", "alpine", "cameras", 149900,
        demand=0.4, warranty_months=24,
    ),
    Style(
        "EL-Z50", "Alpine Z50 Compact Camera", "alpine", "cameras", 64900,
        (colours("Silver", "Black"),), demand=0.5, warranty_months=24,
    ),
    Style(
        "EL-L2470", "Alpine 24-70mm f/4 Zoom Lens", "alpine", "lenses", 59900,
        demand=0.5, warranty_months=24,
    ),
    Style(
        "EL-L35", "Alpine 35mm f/1.8 Prime Lens", "alpine", "lenses", 44900,
        demand=0.5, warranty_months=24,
    ),
    Style(
        "EL-L50", "Alpine 50mm f/1.8 Prime Lens", "alpine", "lenses", 24900,
        demand=0.7, warranty_months=24,
    ),
    Style(
        "EL-L70300", "Alpine 70-300mm Telephoto Zoom Lens", "alpine", "lenses", 69900,
        demand=0.3, warranty_months=24,
    ),
    Style(
        "EL-NPX1", "Alpine NP-X1 Rechargeable Battery", "alpine", "camera-accessories", 5900,
        demand=1.2, warranty_months=12,
    ),
    Style(
        "EL-CHG2", "Alpine Dual Battery Charger", "alpine", "camera-accessories", 4900,
        demand=0.8, warranty_months=12,
    ),
    Style(
        "EL-ANC", "Soundhaven ANC Wireless Headphones", "soundhaven", "audio", 34900,
        (colours("Black", "Silver", "Midnight Blue"),), demand=1.2, warranty_months=24,
    ),
    Style(
        "EL-STM", "Soundhaven Studio Monitor Headphones", "soundhaven", "audio", 19900,
        demand=0.5, warranty_months=24,
    ),
    Style(
        "EL-BPR", "Soundhaven Buds Pro True Wireless Earbuds", "soundhaven", "audio", 19900,
        (colours("Black", "White", "Sage"),), demand=1.5, warranty_months=12,
    ),
    Style(
        "EL-BSP", "Soundhaven Buds Sport Earbuds", "soundhaven", "audio", 12900,
        (colours("Black", "Red"),), demand=1.0, warranty_months=12,
    ),
    Style(
        "EL-GO", "Soundhaven Go Portable Speaker", "soundhaven", "audio", 9900,
        (colours("Black", "Ocean Blue", "Coral"),), demand=1.0, warranty_months=12,
    ),
    Style(
        "EL-HOME", "Soundhaven Home Smart Speaker", "soundhaven", "audio", 22900,
        (colours("Charcoal", "Chalk"),), demand=0.6, warranty_months=24,
    ),
    Style(
        "EL-PFS", "Pulse Fit Smartwatch", "pulse", "wearables", 29900,
        (
            variants(("41", "41 mm", 0), ("45", "45 mm", 3000)),
            colours("Black", "Silver", "Rose Gold"),
        ),
        demand=1.0, warranty_months=12,
    ),
    Style(
        "EL-PBT", "Pulse Band Fitness Tracker", "pulse", "wearables", 9900,
        (colours("Black", "Lilac"),), demand=1.0, warranty_months=12,
    ),
    Style(
        "EL-LF10", "Leaf 10 Tablet", "leaf", "tablets", 32900,
        (
            variants(("64", "64 GB", 0), ("128", "128 GB", 7000), ("256", "256 GB", 17000)),
            colours("Space Grey", "Silver"),
        ),
        demand=0.8, warranty_months=12,
    ),
    Style(
        "EL-LFP", "Leaf Paper E-Reader", "leaf", "tablets", 13900,
        (variants(("8", "8 GB", 0), ("32", "32 GB", 3000)),), demand=0.9, warranty_months=12,
    ),
    Style(
        "EL-PB20", "Voltcore 20,000 mAh Power Bank", "voltcore", "power", 5900,
        (colours("Black", "White"),), demand=1.4, warranty_months=12,
    ),
    Style(
        "EL-GAN65", "Voltcore 65 W GaN USB-C Charger", "voltcore", "power", 4900,
        demand=1.3, warranty_months=12,
    ),
    Style(
        "EL-WCS3", "Voltcore 3-in-1 Wireless Charging Stand", "voltcore", "power", 8900,
        demand=0.8, warranty_months=12,
    ),
    Style(
        "EL-SKM", "Skylark Mini Folding Drone", "skylark", "drones", 59900,
        demand=0.3, warranty_months=12,
    ),
    Style(
        "EL-SKP", "Skylark Pro 4K Drone", "skylark", "drones", 129900,
        demand=0.2, warranty_months=24,
    ),
    Style(
        "EL-ACT", "Alpine Trail 4K Action Camera", "alpine", "drones", 34900,
        demand=0.6, warranty_months=12,
    ),
    # Health & beauty: lot-tracked, with a shelf life.
    Style(
        "HB-CLN", "Lumière Daily Gentle Cleanser", "lumiere", "skincare", 1800,
        (variants(("150", "150 ml", 0), ("300", "300 ml", 1000)),), shelf_life_months=30,
    ),
    Style(
        "HB-VCS", "Lumière Vitamin C Brightening Serum", "lumiere", "skincare", 3400,
        (variants(("30", "30 ml", 0), ("50", "50 ml", 1800)),), demand=1.3, shelf_life_months=18,
    ),
    Style(
        "HB-HYM", "Lumière Hyaluronic Hydrating Moisturiser", "lumiere", "skincare", 2900,
        (variants(("50", "50 ml", 0), ("100", "100 ml", 1600)),), shelf_life_months=24,
    ),
    Style(
        "HB-SPF30", "Lumière Mineral Sunscreen SPF 30", "lumiere", "skincare", 2200,
        (variants(("50", "50 ml", 0), ("100", "100 ml", 1000)),), shelf_life_months=24,
    ),
    Style(
        "HB-SPF50", "Lumière Mineral Sunscreen SPF 50", "lumiere", "skincare", 2400,
        (variants(("50", "50 ml", 0), ("100", "100 ml", 1000)),), shelf_life_months=24,
    ),
    Style(
        "HB-RET", "Lumière Retinol Night Cream 50 ml", "lumiere", "skincare", 4200,
        shelf_life_months=18,
    ),
    Style(
        "HB-MIC", "Lumière Micellar Cleansing Water 400 ml", "lumiere", "skincare", 1400,
        shelf_life_months=36,
    ),
    Style(
        "HB-LIP", "Lumière Lip Repair Balm", "lumiere", "skincare", 900,
        (variants(("ORI", "Original", 0), ("MNT", "Mint", 0)),), shelf_life_months=36,
    ),
    Style(
        "HB-SHA", "Lumière Repair Shampoo", "lumiere", "haircare", 1600,
        (variants(("250", "250 ml", 0), ("500", "500 ml", 900)),), shelf_life_months=36,
    ),
    Style(
        "HB-CON", "Lumière Repair Conditioner", "lumiere", "haircare", 1700,
        (variants(("250", "250 ml", 0), ("500", "500 ml", 900)),), shelf_life_months=36,
    ),
    Style(
        "HB-ARG", "Lumière Argan Hair Oil 100 ml", "lumiere", "haircare", 2600,
        shelf_life_months=30,
    ),
    Style(
        "HB-DRY", "Lumière Dry Shampoo 200 ml", "lumiere", "haircare", 1200,
        shelf_life_months=36,
    ),
    Style(
        "HB-D3", "Vitalis Vitamin D3 2000 IU Softgels", "vitalis", "supplements", 1200,
        (variants(("60", "60 count", 0), ("120", "120 count", 800)),), demand=1.3,
        shelf_life_months=24,
    ),
    Style(
        "HB-OM3", "Vitalis Omega-3 Fish Oil Softgels", "vitalis", "supplements", 1900,
        (variants(("60", "60 count", 0), ("120", "120 count", 1300)),), shelf_life_months=18,
    ),
    Style(
        "HB-MUL", "Vitalis Daily Multivitamin Tablets", "vitalis", "supplements", 1600,
        (variants(("60", "60 count", 0), ("120", "120 count", 1000)),), shelf_life_months=24,
    ),
    Style(
        "HB-MAG", "Vitalis Magnesium Glycinate Capsules", "vitalis", "supplements", 2100,
        (variants(("90", "90 count", 0), ("180", "180 count", 1400)),), shelf_life_months=24,
    ),
    Style(
        "HB-COL", "Vitalis Collagen Peptides Powder", "vitalis", "supplements", 3200,
        (variants(("300", "300 g", 0), ("600", "600 g", 2200)),), shelf_life_months=24,
    ),
    Style(
        "HB-PRO", "Vitalis Probiotic 20 Billion CFU Capsules", "vitalis", "supplements", 2800,
        (variants(("30", "30 count", 0), ("60", "60 count", 1800)),), shelf_life_months=12,
    ),
    Style(
        "HB-TPW", "Lumière Whitening Toothpaste 75 ml", "lumiere", "oral-care", 600,
        (variants(("1", "Single", 0), ("2", "Twin pack", 500)),), shelf_life_months=36,
    ),
    Style(
        "HB-MWA", "Lumière Alcohol-Free Mouthwash 500 ml", "lumiere", "oral-care", 800,
        shelf_life_months=36,
    ),
    Style(
        "HB-EDP", "Lumière Cedar & Citrus Eau de Parfum", "lumiere", "fragrance", 6800,
        (variants(("50", "50 ml", 0), ("100", "100 ml", 3200)),), demand=0.6,
        shelf_life_months=36,
    ),
    Style(
        "HB-EDT", "Lumière Neroli Eau de Toilette", "lumiere", "fragrance", 5200,
        (variants(("50", "50 ml", 0), ("100", "100 ml", 2400)),), demand=0.6,
        shelf_life_months=36,
    ),
]

KITS = [
    Kit(
        "KIT-X100-2470",
        "Alpine X100 Camera Kit with 24-70mm Lens",
        "camera-kits",
        (("EL-X100", 1), ("EL-L2470", 1), ("EL-NPX1", 1)),
        gtin_brand="alpine",
    ),
    Kit(
        "KIT-X200-35",
        "Alpine X200 Creator Kit with 35mm Lens and Spare Battery",
        "camera-kits",
        (("EL-X200", 1), ("EL-L35", 1), ("EL-NPX1", 2)),
        gtin_brand="alpine",
    ),
    Kit(
        "KIT-AUDIO-TRAVEL",
        "Soundhaven Travel Audio Pack",
        "audio",
        (("EL-ANC-BLK", 1), ("EL-PB20-BLK", 1)),
        gtin_brand="soundhaven",
    ),
    Kit(
        "KIT-SKIN-START",
        "Lumière Skincare Starter Set",
        "gift-sets",
        (("HB-CLN-150", 1), ("HB-VCS-30", 1), ("HB-HYM-50", 1)),
        discount_percent=15,
        gtin_brand="lumiere",
    ),
    Kit(
        "KIT-WELLNESS-TRIO",
        "Vitalis Wellness Trio",
        "gift-sets",
        (("HB-D3-60", 1), ("HB-OM3-60", 1), ("HB-MUL-60", 1)),
        discount_percent=15,
        gtin_brand="vitalis",
    ),
]
# fmt: on
