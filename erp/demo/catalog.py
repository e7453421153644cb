"""The demo catalog: categories, SKUs (one per style variant), kits as bundles, and a listing of
every SKU on every channel."""

import itertools
import random
from dataclasses import dataclass
from decimal import Decimal

from erp.models import BundleComponent, Category, Channel, ChannelListing, Product
from erp.validators import normalize_gtin

from . import assortment
from .identifiers import ALPHANUMERIC, DIGITS, UniqueDraw, gs1_check_digit, random_code

HIGH_VALUE_CENTS = 500_00  # a unit this dear is held for verification when it comes back


def cents_to_money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


@dataclass(frozen=True, slots=True)
class Sku:
    """What order generation needs to know about one SKU, without touching the database."""

    id: int
    department: str
    tracking: str
    price: int  # list price, cents
    demand: float
    code: str  # short model code printed on serials and lot numbers
    shelf_life_months: int


@dataclass(frozen=True)
class Catalog:
    skus: list[Sku]
    bundles: int
    listings: int


def catalog_create(*, rng: random.Random, channels: list[Channel]) -> Catalog:
    """Effects: creates the categories, ~200 products with valid GTINs, the kits and their
    components, and one listing per product and channel."""
    categories = {
        category.code: category
        for category in Category.objects.bulk_create(
            Category(code=code, name=name, department=department)
            for code, name, department in assortment.CATEGORIES
        )
    }
    gtins = _GtinIssuer(rng)
    specs = [spec for style in assortment.STYLES for spec in _style_variants(style, rng, gtins)]
    by_sku = {spec.product.sku: spec for spec in specs}
    kits = [_kit(kit, by_sku, gtins) for kit in assortment.KITS]
    specs += [spec for spec, _ in kits]

    for spec in specs:
        spec.product.category = categories[spec.category]
    products = Product.objects.bulk_create(spec.product for spec in specs)
    product_by_sku = {product.sku: product for product in products}

    BundleComponent.objects.bulk_create(
        BundleComponent(
            bundle=product_by_sku[spec.product.sku],
            component=product_by_sku[component_sku],
            quantity=quantity,
        )
        for spec, components in kits
        for component_sku, quantity in components
    )
    listings = ChannelListing.objects.bulk_create(
        listing for channel in channels for listing in _listings(channel, products, rng)
    )
    skus = [
        Sku(
            id=product.pk,
            department=spec.department,
            tracking=product.tracking,
            price=spec.price,
            demand=spec.demand,
            code=spec.code,
            shelf_life_months=spec.shelf_life_months,
        )
        for spec, product in zip(specs, products, strict=True)
    ]
    return Catalog(skus=skus, bundles=len(kits), listings=len(listings))


@dataclass
class _ProductSpec:
    product: Product
    category: str
    department: str
    price: int
    demand: float
    code: str
    shelf_life_months: int


class _GtinIssuer:
    """Hands out GTINs under each brand's company prefix, item references at random."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._draws: dict[str, UniqueDraw] = {}

    def issue(self, brand: str) -> str:
        if brand not in self._draws:
            prefix = assortment.GTIN_PREFIX[brand]
            # A 12-digit body and its check digit make an EAN-13 (a UPC-A if it starts with 0).
            width = 12 - len(prefix)
            self._draws[brand] = UniqueDraw(
                lambda: f"{prefix}{self._rng.randrange(10**width):0{width}d}"
            )
        body = self._draws[brand]()
        return normalize_gtin(body + gs1_check_digit(body))


def _style_variants(style: assortment.Style, rng: random.Random, gtins: _GtinIssuer):
    low, high = assortment.COST_PERCENT[style.department]
    model_code = (style.sku_stem.split("-", 1)[1] + "X")[:3]
    for options in itertools.product(*style.axes):
        price = style.price + sum(option.price_delta for option in options)
        demand = style.demand * assortment.DEPARTMENT_DEMAND[style.department]
        for option in options:
            demand *= option.demand
        labels = ", ".join(option.label for option in options)
        yield _ProductSpec(
            product=Product(
                sku="-".join([style.sku_stem, *(option.code for option in options)]),
                name=f"{style.name} ({labels})" if labels else style.name,
                gtin=gtins.issue(style.brand),
                tracking=style.tracking,
                unit_cost=cents_to_money(price * rng.randint(low, high) // 100),
                list_price=cents_to_money(price),
                is_high_value=price >= HIGH_VALUE_CENTS,
                warranty_months=style.warranty_months,
            ),
            category=style.category,
            department=style.department,
            price=price,
            demand=demand,
            code=model_code,
            shelf_life_months=style.shelf_life_months,
        )


def _kit(kit: assortment.Kit, by_sku: dict[str, _ProductSpec], gtins: _GtinIssuer):
    parts = [(by_sku[sku], quantity) for sku, quantity in kit.components]
    full_price = sum(part.price * quantity for part, quantity in parts)
    # Kits sell at a round-dollar discount on the parts bought one by one.
    price = full_price * (100 - kit.discount_percent) // 100 // 100 * 100
    cost = sum(part.product.unit_cost * quantity for part, quantity in parts)
    department = parts[0][0].department
    spec = _ProductSpec(
        product=Product(
            sku=kit.sku,
            name=kit.name,
            gtin=gtins.issue(kit.gtin_brand),
            # The kit's own line records no serial or lot: its components carry them, and
            # receiving checks the components (BundleComponent) came back.
            tracking=Product.Tracking.NONE,
            unit_cost=cost,
            list_price=cents_to_money(price),
            is_high_value=price >= HIGH_VALUE_CENTS,
            warranty_months=max(part.product.warranty_months for part, _ in parts),
        ),
        category=kit.category,
        department=department,
        price=price,
        demand=0.3 * assortment.DEPARTMENT_DEMAND[department],
        code=kit.sku.split("-")[1][:3],
        shelf_life_months=0,
    )
    return spec, kit.components


def _listings(channel: Channel, products: list[Product], rng: random.Random):
    """The channel's own names for our SKUs, in the shape each platform uses."""
    if channel.platform == Channel.Platform.SHOPIFY:
        # Shopify lists a SKU as a product variant with a numeric id.
        variant_id = UniqueDraw(lambda: "4" + random_code(rng, DIGITS, 13))
        return (
            ChannelListing(channel=channel, product=p, channel_sku=p.sku, listing_id=variant_id())
            for p in products
        )
    if channel.platform == Channel.Platform.AMAZON:
        # Amazon assigns ASINs: ten characters, B0 and eight upper-case alphanumerics.
        asin = UniqueDraw(lambda: "B0" + random_code(rng, ALPHANUMERIC, 8))
        return (
            ChannelListing(channel=channel, product=p, channel_sku=p.sku, listing_id=asin())
            for p in products
        )
    # European marketplaces key offers on the EAN and want a seller SKU of their own.
    return (
        ChannelListing(channel=channel, product=p, channel_sku=f"HG-{p.sku}", listing_id=p.gtin[1:])
        for p in products
    )
