"""Master data in the Django admin: searchable, filterable, every change in its history."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from erp import integrations, services
from erp.models import (
    BundleComponent,
    Category,
    Channel,
    ChannelListing,
    Customer,
    CustomerChannelAccount,
    ExceptionCase,
    ExceptionNote,
    InboundEvent,
    IntegrationCredential,
    Location,
    OrderLine,
    OutboundEndpoint,
    OutboxMessage,
    Product,
    ReasonCode,
    ReasonCodeMapping,
    SalesOrder,
    ShippedItem,
    Warehouse,
    WorkerHeartbeat,
)

admin.site.site_header = "Returns Back Office · Administration"
admin.site.site_title = "Returns Back Office admin"


class ChannelForm(forms.ModelForm):
    """Secrets are write-only: the form never shows them, and a blank field keeps the old one."""

    webhook_secret = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False), strip=True
    )
    previous_webhook_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        strip=True,
        help_text="Still accepted while a secret rotation settles.",
    )

    class Meta:
        model = Channel
        fields = [
            "code",
            "name",
            "kind",
            "platform",
            "region",
            "currency",
            "webhook_secret",
            "previous_webhook_secret",
            "is_active",
        ]

    def clean(self):
        cleaned = super().clean()
        for field in ("webhook_secret", "previous_webhook_secret"):
            if not cleaned.get(field) and self.instance.pk:
                cleaned[field] = getattr(self.instance, field)
        return cleaned


@admin.register(Channel)
class ChannelAdmin(SimpleHistoryAdmin):
    form = ChannelForm
    list_display = ["name", "code", "kind", "platform", "region", "currency", "is_active"]
    list_filter = ["kind", "platform", "region", "currency", "is_active"]
    search_fields = ["name", "code"]
    actions = ["load_reason_mappings"]

    @admin.action(description="Load the platform's default reason-code mappings")
    def load_reason_mappings(self, request, queryset):
        created = sum(
            services.reason_mappings_load_platform_defaults(channel=channel) for channel in queryset
        )
        self.message_user(request, f"{created} mappings created.", messages.SUCCESS)


class LocationInline(admin.TabularInline):
    model = Location
    extra = 0


@admin.register(Warehouse)
class WarehouseAdmin(SimpleHistoryAdmin):
    list_display = ["name", "code", "operator", "provider", "country", "is_active"]
    list_filter = ["operator", "provider", "country", "is_active"]
    search_fields = ["name", "code"]
    inlines = [LocationInline]


@admin.register(Location)
class LocationAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "warehouse", "kind", "is_active"]
    list_filter = ["warehouse", "kind", "is_active"]
    search_fields = ["code", "name", "warehouse__code"]
    list_select_related = ["warehouse"]


@admin.register(Category)
class CategoryAdmin(SimpleHistoryAdmin):
    list_display = ["name", "code", "department"]
    list_filter = ["department"]
    search_fields = ["name", "code"]


class BundleComponentInline(admin.TabularInline):
    model = BundleComponent
    fk_name = "bundle"
    extra = 0
    autocomplete_fields = ["component"]


class ChannelListingInline(admin.TabularInline):
    model = ChannelListing
    extra = 0


@admin.register(Product)
class ProductAdmin(SimpleHistoryAdmin):
    list_display = [
        "sku",
        "name",
        "gtin",
        "category",
        "tracking",
        "unit_cost",
        "list_price",
        "is_high_value",
        "is_active",
    ]
    list_filter = ["category__department", "category", "tracking", "is_high_value", "is_active"]
    search_fields = ["sku", "name", "gtin"]
    list_select_related = ["category"]
    inlines = [BundleComponentInline, ChannelListingInline]


@admin.register(BundleComponent)
class BundleComponentAdmin(SimpleHistoryAdmin):
    list_display = ["bundle", "component", "quantity"]
    search_fields = ["bundle__sku", "component__sku"]
    list_select_related = ["bundle", "component"]
    autocomplete_fields = ["bundle", "component"]


@admin.register(ChannelListing)
class ChannelListingAdmin(SimpleHistoryAdmin):
    list_display = ["channel_sku", "listing_id", "channel", "product", "is_active"]
    list_filter = ["channel", "is_active"]
    search_fields = ["channel_sku", "listing_id", "product__sku"]
    list_select_related = ["channel", "product"]
    autocomplete_fields = ["product"]


class CustomerChannelAccountInline(admin.TabularInline):
    model = CustomerChannelAccount
    extra = 0


@admin.register(Customer)
class CustomerAdmin(SimpleHistoryAdmin):
    list_display = ["name", "email", "segment", "created_at"]
    list_filter = ["segment"]
    search_fields = ["name", "email", "channel_accounts__external_id"]
    inlines = [CustomerChannelAccountInline]


@admin.register(CustomerChannelAccount)
class CustomerChannelAccountAdmin(SimpleHistoryAdmin):
    list_display = ["external_id", "channel", "customer"]
    list_filter = ["channel"]
    search_fields = ["external_id", "customer__email"]
    list_select_related = ["channel", "customer"]
    autocomplete_fields = ["customer"]


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    autocomplete_fields = ["product"]


@admin.register(SalesOrder)
class SalesOrderAdmin(SimpleHistoryAdmin):
    list_display = ["number", "channel", "customer", "placed_at", "delivered_at", "currency"]
    list_filter = ["channel", "ship_from", "currency"]
    search_fields = ["number", "customer__email", "customer__name"]
    date_hierarchy = "placed_at"
    list_select_related = ["channel", "customer"]
    autocomplete_fields = ["customer"]
    inlines = [OrderLineInline]


class ShippedItemInline(admin.TabularInline):
    model = ShippedItem
    extra = 0


@admin.register(OrderLine)
class OrderLineAdmin(SimpleHistoryAdmin):
    list_display = ["order", "line_number", "product", "quantity", "unit_price"]
    list_filter = ["order__channel"]
    search_fields = ["order__number", "product__sku", "channel_line_id"]
    list_select_related = ["order__channel", "product"]
    autocomplete_fields = ["order", "product"]
    inlines = [ShippedItemInline]


@admin.register(ShippedItem)
class ShippedItemAdmin(SimpleHistoryAdmin):
    list_display = ["serial_number", "lot_number", "lot_expiry", "quantity", "line"]
    search_fields = ["serial_number", "lot_number", "line__order__number"]
    list_select_related = ["line__order__channel"]
    autocomplete_fields = ["line"]


class ReasonCodeMappingInline(admin.TabularInline):
    model = ReasonCodeMapping
    extra = 0


@admin.register(ReasonCode)
class ReasonCodeAdmin(SimpleHistoryAdmin):
    list_display = ["code", "label", "group", "is_active"]
    list_filter = ["group", "is_active"]
    search_fields = ["code", "label"]
    inlines = [ReasonCodeMappingInline]


@admin.register(ReasonCodeMapping)
class ReasonCodeMappingAdmin(SimpleHistoryAdmin):
    list_display = ["raw_code", "raw_label", "channel", "reason"]
    list_filter = ["channel", "reason__group"]
    search_fields = ["raw_code", "raw_label", "reason__code"]
    list_select_related = ["channel", "reason"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["hostname", "last_seen_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ExceptionNoteInline(admin.TabularInline):
    model = ExceptionNote
    extra = 0
    fields = ["created_at", "author", "body", "evidence"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ExceptionCase)
class ExceptionCaseAdmin(SimpleHistoryAdmin):
    """Read-only: exceptions open through `exception_open` and move through the queue
    screens, whose services check permissions and keep the history."""

    list_display = [
        "pk",
        "kind",
        "subject_type",
        "subject_label",
        "summary",
        "state",
        "owner_role",
        "assignee",
        "sla_due_at",
        "opened_at",
    ]
    list_filter = ["state", "kind", "owner_role", "subject_type"]
    search_fields = [
        "subject_id",
        "subject_label",
        "summary",
        "product__sku",
        "sales_order__number",
    ]
    list_select_related = ["assignee"]
    date_hierarchy = "opened_at"
    inlines = [ExceptionNoteInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# ---- Integrations: the inbox and outbox are read-only; replay goes through the services. ----


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = [
        "received_at",
        "source",
        "account",
        "topic",
        "external_id",
        "status",
        "attempts",
    ]
    list_filter = ["status", "source", "topic"]
    search_fields = ["external_id", "subject_ref", "topic", "account", "last_error"]
    date_hierarchy = "received_at"
    exclude = ["body", "headers"]
    readonly_fields = ["payload", "masked_headers"]
    actions = ["replay"]

    @admin.display(description="Payload (secrets masked)")
    def payload(self, obj):
        return format_html("<pre>{}</pre>", integrations.payload_for_display(obj))

    @admin.display(description="Headers (signatures are never stored)")
    def masked_headers(self, obj):
        return format_html(
            "<pre>{}</pre>", json.dumps(integrations.headers_for_display(obj), indent=2)
        )

    @admin.action(description="Replay the selected parked or failed events")
    def replay(self, request, queryset):
        replayed = 0
        for event in queryset.filter(status__in=["parked", "failed"]):
            try:
                services.inbound_event_replay(event_id=event.pk, actor=request.user)
            except PermissionDenied:
                self.message_user(request, "You may not replay inbound events.", messages.ERROR)
                return
            replayed += 1
        self.message_user(
            request, f"{replayed} events queued for processing again.", messages.SUCCESS
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "topic",
        "dedupe_key",
        "created_at",
        "status",
        "attempts",
        "next_attempt_at",
    ]
    list_filter = [
        "topic",
        ("dispatched_at", admin.EmptyFieldListFilter),
        ("dead_lettered_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["dedupe_key", "topic", "last_error"]
    date_hierarchy = "created_at"
    actions = ["replay"]

    @admin.action(description="Send the selected unsent messages again now")
    def replay(self, request, queryset):
        replayed = 0
        for message in queryset.filter(dispatched_at__isnull=True):
            services.outbox_message_replay(message_id=message.pk)
            replayed += 1
        self.message_user(request, f"{replayed} messages due now.", messages.SUCCESS)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SecretFieldsForm(forms.ModelForm):
    """Secrets are write-only: never shown, and a blank field keeps the stored value."""

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            field = self.fields[name]
            field.widget = forms.PasswordInput(render_value=False)
            field.required = not self.instance.pk and name == self.secret_fields[0]

    def clean(self):
        cleaned = super().clean()
        for name in self.secret_fields:
            if not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)
        return cleaned


class IntegrationCredentialForm(SecretFieldsForm):
    secret_fields = ("secret", "previous_secret")

    class Meta:
        model = IntegrationCredential
        fields = ["source", "account", "secret", "previous_secret", "is_active"]


class OutboundEndpointForm(SecretFieldsForm):
    secret_fields = ("secret",)
    url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = OutboundEndpoint
        fields = ["topic", "url", "secret", "timeout_seconds", "is_active"]


@admin.register(IntegrationCredential)
class IntegrationCredentialAdmin(admin.ModelAdmin):
    form = IntegrationCredentialForm
    list_display = ["source", "account", "is_active"]
    list_filter = ["source", "is_active"]
    search_fields = ["account"]


@admin.register(OutboundEndpoint)
class OutboundEndpointAdmin(admin.ModelAdmin):
    form = OutboundEndpointForm
    list_display = ["topic", "url", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["topic", "url"]
